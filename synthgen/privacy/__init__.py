"""Privacy machinery shared by every modality: accounting, mechanisms, DP-SGD, certificate.

Bookkeeping (``accountant``, ``certificate``) is kept apart from the mechanisms
(``mechanisms``, ``dp_sgd``) and from where their randomness comes from
(``secure_random``), as in Opacus.
"""
