"""ARTAgent in a web page: the browser channel, its page, session tokens and limits."""
