"""The core: everything that runs inside a component.

Config schema, data snapshots, forecasting, MLflow helpers (tracking, model registry),
provenance, file io and errors: plain functions over pandas, numpy and Keras. This folder,
with ``components_py/``, is exactly the code a component runs: editing it changes every
component's code hash (and so retrains every circuit); nothing outside it does. It never
imports the layers above it, azure-ai-ml, mldesigner or Hydra (import-linter contracts).
"""
