"""The Gerrit driver: events from ``gerrit stream-events`` over SSH (and the
webhooks plugin), missed events caught up through REST after a disconnection,
and a REST client for queries, reviews and submits.

How the parts fit (one connection)::

    rest = GerritRest(url, user=user, password=http_password)
    listener = GerritListener(store, name, rest, clock=clock.now)
    stream = GerritStream(host, user, key_file, known_hosts=known_hosts, port=port,
                          on_line=listener.handle_line, on_connect=listener.on_connect,
                          on_gap=listener.catch_up, name=name)
    stream.start()  # ... stream.stop()

A webhooks-plugin body goes to ``listener.handle_event(body)``.
"""
