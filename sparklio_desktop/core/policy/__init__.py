"""The routing policy and the model catalog as validated data, read from hand-edited YAML.

``routing_policy`` and ``catalog`` are the pydantic models and their loaders; ``user_catalog``
and ``versions`` change the user's own files; ``safe_yaml`` and ``yaml_source`` parse hostile
YAML and keep each key's line for errors; ``bounds`` is the range every number must fall in.
"""
