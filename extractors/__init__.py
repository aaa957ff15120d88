"""Built-in extractor plugins. They import only ``gateway.pluginspec`` from the gateway."""
