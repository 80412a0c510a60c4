"""Why do customers contact us: taxonomy, classifier, new-reason clusters, contact metrics,
root causes and the war-room report.

Modules: ``taxonomy`` (config), ``text`` (normalisation, stop words), ``features`` (fast
n-gram TF-IDF), ``classifier`` (phrase matcher + trainable model), ``models`` (versions on
disk), ``labels`` (labelling queue and label events), ``data`` (contacts from the event log),
``clusters``, ``metrics``, ``rootcause``, ``warroom``.
"""
