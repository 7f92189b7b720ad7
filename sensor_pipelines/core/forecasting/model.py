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
    """LSTM over the past window; its state joins each forecast step's features (target lags,
    calendar, step number); a per-step head (shared across steps) gives a correction that is
    added to the scaled seasonal naive (``base``; zeros when ``residual`` is off)."""
    import keras
    from keras import layers, regularizers

    reg = regularizers.L2(config.l2) if config.l2 else None
    past = keras.Input(shape=(spec.lookback, spec.n_inputs), name="past")
    future = keras.Input(shape=(spec.horizon, spec.n_future), name="future")
    base = keras.Input(shape=(spec.horizon,), name="base")
    x = past
    for i, units in enumerate(config.lstm_units):
        last = i == len(config.lstm_units) - 1
        x = layers.LSTM(units, return_sequences=not last, kernel_regularizer=reg, name=f"lstm_{i}")(x)
    if config.dropout:
        x = layers.Dropout(config.dropout, name="dropout")(x)
    z = layers.Concatenate(name="step_inputs")([layers.RepeatVector(spec.horizon, name="per_step")(x), future])
    z = layers.Dense(config.dense_units, activation="relu", kernel_regularizer=reg, name="step_hidden")(z)
    if config.dropout:
        z = layers.Dropout(config.dropout, name="step_dropout")(z)
    z = layers.Dense(1, kernel_regularizer=reg, name="step_out")(z)
    correction = layers.Reshape((spec.horizon,), name="correction")(z)
    out = layers.Add(name="forecast")([base, correction])
    return keras.Model(inputs=[past, future, base], outputs=out, name="circuit_forecaster")


LOSSES = {"mae": "mean_absolute_error", "mse": "mean_squared_error", "huber": "huber"}


def fit_model(spec: FeatureSpec, config: ModelConfig, train: Windows, validation: Windows,
              checkpoint: Path) -> FitResult:
    """Train with Adam and the configured loss; stop early on validation loss; return the best checkpoint's model."""
    import keras

    keras.utils.set_random_seed(config.seed)
    model = build_model(spec, config)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate), loss=LOSSES[config.loss])
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


def refit_model(spec: FeatureSpec, config: ModelConfig, windows: Windows, epochs: int) -> tuple[Any, float]:
    """A fresh model fit on ``windows`` (all of them, no validation) for ``epochs`` epochs; (model, seconds)."""
    import keras

    keras.utils.set_random_seed(config.seed + 1)
    model = build_model(spec, config)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate), loss=LOSSES[config.loss])
    start = time.perf_counter()
    model.fit(windows.inputs, windows.y, epochs=max(1, epochs), batch_size=config.batch_size, shuffle=True,
              verbose=0, callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: log.info(
                  "refit epoch %d/%d: loss %.4f", epoch + 1, max(1, epochs), logs.get("loss", float("nan"))))])
    return model, time.perf_counter() - start


def average_models(spec: FeatureSpec, members: list[Any]) -> Any:
    """One Keras model whose forecast is the mean of the members' (same inputs)."""
    import keras
    from keras import layers

    past = keras.Input(shape=(spec.lookback, spec.n_inputs), name="past")
    future = keras.Input(shape=(spec.horizon, spec.n_future), name="future")
    base = keras.Input(shape=(spec.horizon,), name="base")
    named = [keras.Model(m.inputs, m.output, name=f"member_{i}") for i, m in enumerate(members)]
    outputs = [member([past, future, base]) for member in named]
    return keras.Model(inputs=[past, future, base], outputs=layers.Average(name="forecast_mean")(outputs),
                       name="circuit_forecaster_mean")


def predict(model: Any, windows: Windows, batch_size: int = 4096) -> Any:
    """Scaled forecasts, shape (n, horizon), ``batch_size`` windows per step.

    ``predict_on_batch`` runs the model's compiled predict step directly: ``model.predict``
    would build a dataset pipeline on every call, which costs more than the prediction
    itself when a scorer calls it once per batch of origins.
    """
    import numpy as np

    if len(windows) == 0:
        return np.zeros((0, int(model.output_shape[-1])), dtype=np.float32)
    inputs = windows.inputs
    return np.concatenate([np.asarray(model.predict_on_batch([x[i:i + batch_size] for x in inputs]))
                           for i in range(0, len(windows), batch_size)])
