"""echowall's product core: framework-free handlers that turn neutral events into replies."""
