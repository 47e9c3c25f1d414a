#!/usr/bin/python3
"""An HTTP front for a real server that is busy at first, as an overloaded archive or a rate
limiter is: it answers the first BUSY requests with STATUS (429 or 503, "Retry-After: 0") and
forwards every later request to the backend, streaming the answer back. It counts the requests
it saw in COUNT_FILE. Loopback only; it stops when its parent test kills it.

usage: busy_proxy.py PORT BACKEND_PORT BUSY STATUS COUNT_FILE
"""
import http.client
import http.server
import sys
import threading

PORT, BACKEND, BUSY, STATUS, COUNT_FILE = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
lock = threading.Lock()
seen = 0
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization", "host"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        global seen
        length = int(self.headers.get("Content-Length", 0) or 0)
        body = self.rfile.read(length) if length else None
        with lock:
            seen += 1
            n = seen
            with open(COUNT_FILE, "w") as f:
                f.write(str(n))
        if n <= BUSY:
            text = b"busy\n"
            self.send_response(STATUS)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
            return
        conn = http.client.HTTPConnection("127.0.0.1", BACKEND, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        conn.request(self.command, self.path, body=body, headers=headers)
        answer = conn.getresponse()
        self.send_response(answer.status)
        for k, v in answer.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while True:
            chunk = answer.read(65536)
            if not chunk:
                break
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")
        conn.close()

    do_GET = handle_any
    do_POST = handle_any


server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print("listening", flush=True)
server.serve_forever()
