"""HTTP routes: parse and authorize, call one use case, shape the answer."""
