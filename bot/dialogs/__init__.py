"""The conversations, once for every platform. Entry point: `Dialogs.handle`."""
