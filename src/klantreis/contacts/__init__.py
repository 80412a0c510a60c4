"""Why do customers contact us: taxonomy, classifier, new-reason clusters, contact metrics,
root causes and the war-room report.

Modules: ``taxonomy`` (the reason config, ``taxonomy.toml``), ``text`` (normalisation, stop
words), ``features`` (fast n-gram TF-IDF and word vectors), ``classifier`` (cold start and the
trainable model, evaluation), ``models`` (versions on disk), ``training`` (labelled data from a
CSV or the store), ``labels`` (label events, labelling queue), ``data`` (contacts from the event
log), ``metrics``, ``rootcause``, ``clusters``, ``warroom`` and ``reports`` (the data of the CLI
tables, the JSON endpoints and the web pages).
"""
