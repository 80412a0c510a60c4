"""Free text beyond contact reasons: sentiment and themes of comments, Dutch and English."""
