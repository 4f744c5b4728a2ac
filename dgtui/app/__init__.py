"""The dgtui terminal browser (Textual). Entry point: ``dgtui.app.app.run_app``."""
