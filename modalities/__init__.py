"""Built-in modalities, one file each. They register through the entry-point group
``imagebind_lite.modalities`` declared in pyproject.toml, exactly like third-party ones."""
