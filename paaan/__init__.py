"""paaan: the Personal Attribute-Aware Attention Network (PAaAN) for 4-class speech+text emotion recognition.

The library (this package) holds corpus readers, featurization, SHLA, personality retrieval, models and
training. It never imports Ray or the CLI; MLflow/Ray glue lives in ``experiments/`` and ``registry/``.
"""

__version__ = "0.1.0"
