import json

import numpy as np
import pandas as pd

from lpm_kg.jsonsafe import frame_records, json_safe


def test_frame_records_keeps_small_p_values_exact():
    # DataFrame.to_json keeps 10 decimals: 3.2e-12 came back 0.0 and reports printed "<1e-300".
    frame = pd.DataFrame({"map": ["a", "b", "c"], "p": [3.2295430862992316e-12, 2.6123e-05, np.nan],
                          "n": np.array([1, 2, 3], np.int64)})
    rows = frame_records(frame)
    assert rows[0]["p"] == 3.2295430862992316e-12 and rows[1]["p"] == 2.6123e-05
    assert rows[2]["p"] is None and rows[0]["n"] == 1 and type(rows[0]["n"]) is int
    assert json.loads(json.dumps(rows)) == rows  # plain JSON, no NaN


def test_json_safe_nested():
    assert json_safe({1: [np.float32(0.5), float("inf"), (np.int64(2),)]}) == {"1": [0.5, None, [2]]}
