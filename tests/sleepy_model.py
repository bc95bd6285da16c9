"""A pyfunc model (MLflow "models from code") that answers after sleeping as long as the request asks:
column `sleep_seconds`, the row's predicted value is that number. tests/test_serving_runtime.py serves it
next to the scikit-learn model in the same MLServer, so "the server answers slowly" does not depend on
how fast this machine is. Saved with `mlflow.pyfunc.save_model(python_model=<this file>)`; MLflow copies
the file into the model and runs it on load."""

import time

import mlflow
import numpy as np
import pandas as pd


class Sleepy(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input: pd.DataFrame, params=None) -> np.ndarray:
        seconds = model_input["sleep_seconds"].astype(float)
        time.sleep(float(seconds.max()))
        return seconds.to_numpy()


mlflow.models.set_model(Sleepy())
