"""The batch scoring pipeline: score with a registered model, then validate the forecasts."""

from azure.ai.ml import Input, dsl

from components_py.scoring.batch_score import batch_score
from components_py.scoring.validate_predictions import validate_predictions


@dsl.pipeline(name="batch_scoring", description="Score recent history with a registered model and validate it")
def batch_scoring(
    model: Input(type="mlflow_model"),
    scoring_data: Input(type="uri_folder"),
    circuit: str,
    model_name: str,
    model_version: str,
    cutoff_date: str,
    horizon: int,
    frequency: str,
    last_origins: int = 1,
    min_value: float = None,
    max_value: float = None,
):
    """Wire batch_score -> validate_predictions; a failed verdict fails the run."""
    score = batch_score(model=model, scoring_data=scoring_data, circuit=circuit, model_name=model_name,
                        model_version=model_version, cutoff_date=cutoff_date, last_origins=last_origins)
    validate = validate_predictions(forecasts=score.outputs.forecasts, horizon=horizon, frequency=frequency,
                                    min_value=min_value, max_value=max_value)
    return {"forecasts": score.outputs.forecasts, "verdict": validate.outputs.verdict}


def pinned_batch_scoring(*, model_uri: str, circuit: str, model_name: str, model_version: str, cutoff_date: str,
                         horizon: int, frequency: str, min_value: float | None = None,
                         max_value: float | None = None, last_origins: int = 1):
    """``batch_scoring`` with everything but ``scoring_data`` fixed inside the graph (the model by its
    registry reference): the pipeline component of a deployment or a schedule carries its pins."""

    @dsl.pipeline(name="batch_scoring", description="Score recent history with a pinned model and validate it")
    def batch_scoring_pinned(scoring_data: Input(type="uri_folder")):
        score = batch_score(model=Input(type="mlflow_model", path=model_uri), scoring_data=scoring_data,
                            circuit=circuit, model_name=model_name, model_version=model_version,
                            cutoff_date=cutoff_date, last_origins=last_origins)
        bounds = {k: v for k, v in (("min_value", min_value), ("max_value", max_value)) if v is not None}
        validate = validate_predictions(forecasts=score.outputs.forecasts, horizon=horizon, frequency=frequency,
                                        **bounds)
        return {"forecasts": score.outputs.forecasts, "verdict": validate.outputs.verdict}

    return batch_scoring_pinned
