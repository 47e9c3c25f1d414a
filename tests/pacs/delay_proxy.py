#!/usr/bin/python3
"""A TCP relay that holds every connection for DELAY seconds before it connects it to the
backend, as a slow network or a busy archive would: the C-MOVE test uses it to keep medsynth's
storage SCP listening, idle, while other senders try it. Loopback only; it stops when its parent
test kills it.

usage: delay_proxy.py PORT BACKEND_PORT DELAY READY_FILE  (READY_FILE is made once it listens)
"""
import socket
import sys
import threading
import time

PORT, BACKEND, DELAY, READY = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def relay(client):
    time.sleep(DELAY)
    try:
        backend = socket.create_connection(("127.0.0.1", BACKEND))
    except OSError:
        client.close()
        return
    threading.Thread(target=pipe, args=(client, backend), daemon=True).start()
    pipe(backend, client)


server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", PORT))
server.listen(8)
open(READY, "w").close()
while True:
    conn, _ = server.accept()
    threading.Thread(target=relay, args=(conn,), daemon=True).start()
