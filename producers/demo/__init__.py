"""`callapi-events demo`: the whole pipeline on the local stack, with a built-in receiver, in one command."""
