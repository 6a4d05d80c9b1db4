"""Interactive panels: a pure render function per panel, wired to ipywidgets controls.

Importing a panel module registers it (with its latency budget) for
``python -m widgets bench``; :func:`widgets.panel.load_all_panels` imports them all.
"""
