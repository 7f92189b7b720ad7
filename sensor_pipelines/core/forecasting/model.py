"""The Keras LSTM forecaster: build, fit with early stopping and a best-model checkpoint.

Keras (and TensorFlow) are imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sensor_pipelines.core.config.schema import ModelConfig
from sensor_pipelines.core.forecasting.features import FeatureSpec, Windows

log = logging.getLogger(__name__)


@dataclass
class FitResult:
    """The best model (reloaded from its checkpoint) and how training went."""

    model: Any
    history: dict[str, list[float]]
    epochs_run: int
    best_epoch: int
    seconds: float


def build_model(spec: FeatureSpec, config: ModelConfig) -> Any:
    """Stacked LSTM over the past window; its state joins the future calendar; Dense(horizon) out."""
    import keras
    from keras import layers

    past = keras.Input(shape=(spec.lookback, spec.n_inputs), name="past")
    x = past
    for i, units in enumerate(config.lstm_units):
        last = i == len(config.lstm_units) - 1
        x = layers.LSTM(units, return_sequences=not last, name=f"lstm_{i}")(x)
    if config.dropout:
        x = layers.Dropout(config.dropout, name="dropout")(x)
    inputs = [past]
    if spec.use_calendar:
        future = keras.Input(shape=(spec.horizon * spec.n_calendar,), name="future_calendar")
        inputs.append(future)
        x = layers.Concatenate(name="with_future")([x, future])
    x = layers.Dense(config.dense_units, activation="relu", name="head")(x)
    out = layers.Dense(spec.horizon, name="forecast")(x)
    return keras.Model(inputs=inputs, outputs=out, name="circuit_forecaster")


def fit_model(spec: FeatureSpec, config: ModelConfig, train: Windows, validation: Windows,
              checkpoint: Path) -> FitResult:
    """Train with Adam and MSE; stop early on validation loss; return the best checkpoint's model."""
    import keras

    keras.utils.set_random_seed(config.seed)
    model = build_model(spec, config)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate), loss="mse")
    checkpoint = Path(checkpoint)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(str(checkpoint), monitor="val_loss", save_best_only=True),
        keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: log.info(
                "epoch %d/%d: loss %.4f val_loss %.4f", epoch + 1, config.epochs, logs.get("loss", float("nan")),
                logs.get("val_loss", float("nan")))
        ),
    ]
    start = time.perf_counter()
    fitted = model.fit(
        train.inputs, train.y, validation_data=(validation.inputs, validation.y), epochs=config.epochs,
        batch_size=config.batch_size, shuffle=True, callbacks=callbacks, verbose=0,
    )
    seconds = time.perf_counter() - start
    history = {k: [float(v) for v in values] for k, values in fitted.history.items()}
    val = history.get("val_loss", [])
    best_epoch = int(min(range(len(val)), key=val.__getitem__)) + 1 if val else len(history.get("loss", []))
    if not checkpoint.is_file():  # no finite val_loss was ever seen: keep the last weights
        model.save(str(checkpoint))
    best = keras.models.load_model(str(checkpoint))
    return FitResult(model=best, history=history, epochs_run=len(history.get("loss", [])),
                     best_epoch=best_epoch, seconds=seconds)


def predict(model: Any, windows: Windows, batch_size: int = 1024) -> Any:
    """Scaled forecasts, shape (n, horizon), in one batched predict."""
    import numpy as np

    if len(windows) == 0:
        return np.zeros((0, int(model.output_shape[-1])), dtype=np.float32)
    return np.asarray(model.predict(windows.inputs, batch_size=batch_size, verbose=0))
