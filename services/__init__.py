"""The verbs of the product and its adapters to the outside world, one module each."""
