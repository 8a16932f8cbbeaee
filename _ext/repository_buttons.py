"""Sphinx extension: repository, issues, Binder and Colab buttons only with a real URL.

The book has one setting for where its sources live: ``repository: url:`` in
``_config.yml`` (Jupyter Book passes it on as the theme option ``repository_url``). By
default it is not set, and then the pages show no button that would lead to a
repository that does not exist. When it is set, this extension switches on the
repository and issues buttons and the Binder and Colab launch buttons. The "download
this page" button (.ipynb and source) needs no repository and is always there.
"""

from __future__ import annotations

from typing import Any

#: Launch buttons added when a repository URL is configured.
LAUNCH_BUTTONS = {
    "notebook_interface": "jupyterlab",
    "binderhub_url": "https://mybinder.org",
    "colab_url": "https://colab.research.google.com",
}


#: Jupyter Book's own repository, which it fills in when ``repository:`` is left out.
JUPYTER_BOOK_DEFAULT = "https://github.com/executablebooks/jupyter-book"


def repository_url(options: dict) -> str:
    """The configured repository URL, or ``""`` when there is none (or only Jupyter
    Book's default, which is not this book's repository)."""
    url = options.get("repository_url") or ""
    url = url.strip().rstrip("/") if isinstance(url, str) else ""
    return "" if url == JUPYTER_BOOK_DEFAULT else url


def buttons_for(options: dict) -> dict[str, Any]:
    """The theme options for the repository-dependent buttons, given the theme options."""
    real = bool(repository_url(options))
    launch = dict(options.get("launch_buttons") or {})
    for key in ("binderhub_url", "colab_url", "jupyterhub_url", "jupyterlite_url"):
        launch.pop(key, None)
    if real:
        launch.update(LAUNCH_BUTTONS)
    return {"use_repository_button": real, "use_issues_button": real,
            "use_edit_page_button": False, "launch_buttons": launch}


def _configure(app, config) -> None:
    options = dict(config.html_theme_options or {})
    options.update(buttons_for(options))
    config.html_theme_options = options


def setup(app):
    app.connect("config-inited", _configure)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
