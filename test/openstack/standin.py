#!/usr/bin/python3
"""Tiny Neutron + Glance + Placement stand-in for the ecsgate test stack (loopback only, no token
checks).

Neutron (port 9696): Nova's GET /servers/{id} lists the server's ports to fill security_groups;
answer every list with an empty collection. Glance (port 9292): openstackclient builds an image
client from the catalog and shows the server's image; answer version discovery and one image.
Placement (port 8778): DELETE /servers/{id} of a host-less server ends in a local delete that asks
Placement for the server's allocations; answer "none" (without it: 500 EndpointNotFound, and the
server is deleted anyway). Everything else is 404.

Usage: standin.py --pidfile PATH [--neutron-port 9696] [--glance-port 9292] [--placement-port 8778]
                  [--image-id UUID]
The pidfile path is on the command line on purpose: down.sh only signals a PID whose
/proc/PID/cmdline still contains it.
"""

import argparse
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HOST = "127.0.0.1"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ecsgate-standin/1"
    routes = None  # set per server

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s %s\n" % (self.server.kind, self.log_date_time_string(), fmt % args))

    def _send(self, code, doc):
        body = b"" if doc is None else json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _dispatch(self):
        # Drain any request body so the connection stays usable.
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        if path.endswith(".json"):
            path = path[: -len(".json")]
        query = parse_qs(parts.query)
        code, doc = self.server.route(self.command, path, query)
        self._send(code, doc)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch


NOT_FOUND = (404, {"error": {"code": 404, "title": "Not Found", "message": "stand-in: no such resource"}})


def neutron_routes(base):
    version = {"id": "v2.0", "status": "CURRENT",
               "links": [{"href": base + "/v2.0/", "rel": "self"}]}
    lists = {"ports": "ports", "security-groups": "security_groups", "networks": "networks",
             "floatingips": "floatingips", "extensions": "extensions", "subnets": "subnets",
             "security-group-rules": "security_group_rules"}

    def route(method, path, query):
        if method not in ("GET", "HEAD"):
            return NOT_FOUND
        if path == "/":
            return 200, {"versions": [version]}
        if path == "/v2.0":
            return 200, {"resources": [
                {"name": k.replace("-", "_").rstrip("s"), "collection": k,
                 "links": [{"href": base + "/v2.0/" + k, "rel": "self"}]} for k in lists]}
        if path.startswith("/v2.0/"):
            coll = path[len("/v2.0/"):]
            if coll in lists:
                return 200, {lists[coll]: []}
        return NOT_FOUND

    return route


def glance_routes(base, image_id):
    versions = {"versions": [{"id": "v2.9", "status": "CURRENT",
                              "links": [{"href": base + "/v2/", "rel": "self"}]}]}
    image = {
        "id": image_id, "name": "ecsgate-test-image", "status": "active", "visibility": "public",
        "protected": False, "os_hidden": False, "disk_format": "qcow2", "container_format": "bare",
        "min_disk": 0, "min_ram": 0, "size": 1048576, "virtual_size": None,
        "checksum": "0" * 32, "os_hash_algo": "sha512", "os_hash_value": "0" * 128,
        "owner": None, "tags": [], "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z", "self": "/v2/images/" + image_id,
        "file": "/v2/images/%s/file" % image_id, "schema": "/v2/schemas/image",
    }

    def route(method, path, query):
        if method not in ("GET", "HEAD"):
            return NOT_FOUND
        if path in ("/", "/versions"):
            return 300 if path == "/" else 200, versions
        if path == "/v2":
            return 200, versions
        if path == "/v2/images":
            wanted = [image]
            for key in ("id", "name", "status", "visibility"):
                vals = query.get(key)
                if vals and str(image.get(key)) not in vals:
                    wanted = []
            return 200, {"images": wanted, "first": "/v2/images", "schema": "/v2/schemas/images"}
        if path == "/v2/images/" + image_id:
            return 200, image
        return NOT_FOUND

    return route


def placement_routes(base):
    versions = {"versions": [{"id": "v1.0", "min_version": "1.0", "max_version": "1.39",
                              "status": "CURRENT", "links": [{"href": "", "rel": "self"}]}]}

    def route(method, path, query):
        if method == "GET" and path == "/":
            return 200, versions
        if path.startswith("/allocations/") and path.count("/") == 2:
            if method == "GET":
                # Placement answers an unknown consumer with an empty allocation, not 404.
                return 200, {"allocations": {}, "consumer_generation": None}
            if method in ("PUT", "DELETE"):
                return 204, None
        return NOT_FOUND

    return route


def serve(kind, port, route):
    srv = ThreadingHTTPServer((HOST, port), Handler)
    srv.daemon_threads = True
    srv.kind = kind
    srv.route = route
    t = threading.Thread(target=srv.serve_forever, name=kind, daemon=True)
    t.start()
    return srv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pidfile", required=True)
    ap.add_argument("--neutron-port", type=int, default=9696)
    ap.add_argument("--glance-port", type=int, default=9292)
    ap.add_argument("--placement-port", type=int, default=8778)
    ap.add_argument("--image-id", default="c0ffee00-0000-4000-8000-0000000000aa")
    args = ap.parse_args()

    servers = [
        serve("neutron", args.neutron_port, neutron_routes("http://%s:%d" % (HOST, args.neutron_port))),
        serve("glance", args.glance_port,
              glance_routes("http://%s:%d" % (HOST, args.glance_port), args.image_id)),
        serve("placement", args.placement_port,
              placement_routes("http://%s:%d" % (HOST, args.placement_port))),
    ]
    tmp = args.pidfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % os.getpid())
    os.replace(tmp, args.pidfile)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(1.0):
        pass
    for s in servers:
        s.shutdown()
    try:
        with open(args.pidfile) as f:
            if f.read().strip() == str(os.getpid()):
                os.unlink(args.pidfile)
    except OSError:
        pass


if __name__ == "__main__":
    main()
