"""LSP features, one module each: `register(server)` adds that feature's handlers and nothing else.

Handlers stay thin: they translate LSP types to calls into the Engine (or a use-case module) and back.
"""
