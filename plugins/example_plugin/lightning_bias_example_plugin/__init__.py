"""An example third-party mitigation plugin for lightning_bias: Group DRO on the ``loss`` hook.

Installed on its own (``pip install -e plugins/example_plugin``), it registers the short name
``group_dro`` in the entry-point group ``lightning_bias.plugins``.
"""

from lightning_bias_example_plugin.group_dro import GroupDRO

__all__ = ["GroupDRO"]
