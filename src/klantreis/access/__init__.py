"""Who may do what: accounts and roles (``accounts``), masking of personal data (``masking``)."""
