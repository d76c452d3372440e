"""The intent classifier's input built from sentence features only (patch 7
of feedbot_rasa.patches; docs/performance.md has the profile).

Rasa 3.6's `LogisticRegressionClassifier._create_X` asks each message for
its sparse features with `Message.get_sparse_features`, which combines the
sequence features (a row per token) and the sentence features (one row),
each by deep-copying the first featurizer's `Features` and stacking the
others onto it, and then uses the sentence features only. Deep-copying a
token-by-vocabulary scipy matrix (scipy answers every attribute `copy`
probes for through a slow `__getattr__`) was a tenth of a Rasa instance's
CPU here, for a result thrown away.

`create_x` below builds the same matrix from the sentence features alone:
the message's sparse sentence features of the text side by side in the
same order, then the dense ones, as Rasa stacks them; for Feedbot's
messages (two sparse sentence features, no dense ones) it writes the CSR
matrix directly instead of through four scipy stacking calls.
tests/test_rasa_patches.py reads messages with the trained English and
Spanish models both ways and compares every parse.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from scipy.sparse import csr_matrix, hstack, vstack

# sha256 of each function's source, first 16 hex digits (checked by
# feedbot_rasa.patches before anything is replaced).
EXPECTED_SOURCES = {
    "LogisticRegressionClassifier._create_X": "6f50b5eef8a879c4",
    "Message.get_sparse_features": "bc5b1f439be5f08e",
    "Message._filter_sparse_features": "1c95d665990050af",
    "Message._combine_features": "6f88fa43154948bd",
    "Features.combine_with_features": "80e355ae45856d92",
    "Features._combine_sparse_features": "9837d864e5983243",
}


def replaced_functions() -> dict[str, Any]:
    """The code whose result `create_x` reproduces."""
    return {
        "LogisticRegressionClassifier._create_X": LogisticRegressionClassifier._create_X,
        "Message.get_sparse_features": Message.get_sparse_features,
        "Message._filter_sparse_features": Message._filter_sparse_features,
        "Message._combine_features": Message._combine_features,
        "Features.combine_with_features": Features.combine_with_features,
        "Features._combine_sparse_features": Features._combine_sparse_features,
    }


def sparse_sentence_features(message: Message) -> Any:
    """The text's sparse sentence features of every featurizer, side by side
    (what `message.get_sparse_features(TEXT)[1].features` holds), or None."""
    combined = None
    for feature in _sentence_features(message):
        if not feature.is_sparse():
            continue
        if combined is None:
            combined = feature.features
        elif combined.shape[0] != feature.features.shape[0]:
            raise ValueError(
                "Cannot combine sparse features as sequence dimensions do not "
                f"match: {combined.shape[0]} != {feature.features.shape[0]}."
            )
        else:
            combined = hstack([combined, feature.features])
    return combined


def _sentence_features(message: Message) -> list[Features]:
    return [f for f in message.features if f.attribute == TEXT and f.type == FEATURE_TYPE_SENTENCE]


def _one_row(message: Message) -> tuple[np.ndarray, np.ndarray, int] | None:
    """The message's row as values, columns and width, where it is only
    sparse sentence features of one row each (else None)."""
    values, columns, width = [], [], 0
    for feature in _sentence_features(message):
        if not feature.is_sparse() or feature.features.shape[0] != 1:
            return None
        part = feature.features.tocoo()
        values.append(part.data)
        columns.append(part.col + width)
        width += part.shape[1]
    if not values:
        return None
    return np.concatenate(values), np.concatenate(columns), width


def create_x(self: LogisticRegressionClassifier, messages: list[Message]) -> csr_matrix:
    """Replaces `LogisticRegressionClassifier._create_X`: the same matrix.

    Feedbot's messages have two sparse sentence features (word and character
    counts) and no dense ones: their rows are put together in one CSR matrix
    (the values as float64, as Rasa's stacking with an empty dense part
    makes them; columns summed and sorted, as its conversion to CSR does).
    Anything else is stacked as Rasa stacks it."""
    rows = [_one_row(message) for message in messages]
    if not rows or any(row is None for row in rows) or len({r[2] for r in rows}) != 1:
        return _stacked(messages)
    values = np.concatenate([r[0] for r in rows]).astype(np.result_type(rows[0][0], np.float64))
    columns = np.concatenate([r[1] for r in rows])
    ends = np.cumsum([0] + [len(r[0]) for r in rows])
    matrix = csr_matrix((values, columns, ends), shape=(len(rows), rows[0][2]))
    matrix.sum_duplicates()
    return matrix


def _stacked(messages: list[Message]) -> csr_matrix:
    """Rasa's stacking, from the sentence features only."""
    rows = []
    for message in messages:
        sparse = sparse_sentence_features(message)
        dense = message.get_dense_features(attribute=TEXT)[1]
        rows.append(
            hstack(
                [
                    csr_matrix(sparse if sparse is not None else []),
                    csr_matrix(dense.features if dense else []),
                ]
            )
        )
    return vstack(rows)
