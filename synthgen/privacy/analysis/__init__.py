"""Pure privacy mathematics, apart from the bookkeeping that uses it (as Opacus keeps
``accountants/analysis`` apart from ``accountants``)."""
