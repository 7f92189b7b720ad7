"""DSL pipelines composed from the components in components_py/."""
