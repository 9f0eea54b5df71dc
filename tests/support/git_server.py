"""A git host for tests: real git over smart HTTP (git http-backend), plus
the few GitHub and GitLab REST endpoints the publish actions call.

usage: python3 git_server.py PORT ROOT TOKEN

Repositories are bare repositories under ROOT (ROOT/<owner>/<repo>.git).
Every REST call is appended to ROOT/api-calls.jsonl so tests can check what
was asked. REST calls must carry TOKEN. Git over HTTP is open, except for
repositories of the owner "private", which need HTTP Basic auth with TOKEN
as the password (as GitHub and GitLab take a token).
"""
import base64
import http.server
import json
import os
import subprocess
import sys
import urllib.parse

PORT, ROOT, TOKEN = int(sys.argv[1]), sys.argv[2], sys.argv[3]


def create_bare(owner, name):
    path = os.path.join(ROOT, owner, name + ".git")
    if os.path.exists(path):
        return None
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run(["git", "init", "--bare", "-q", "-b", "main", path], check=True)
    return path


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        data = b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                n = int(self.rfile.readline().strip(), 16)
                if n == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(n)
                self.rfile.readline()
        elif self.headers.get("Content-Length"):
            data = self.rfile.read(int(self.headers["Content-Length"]))
        return data

    def reply(self, status, payload):
        out = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def host(self):
        return "http://127.0.0.1:%d" % PORT

    def api(self, path, data):
        auth = self.headers.get("Authorization", "") + self.headers.get("PRIVATE-TOKEN", "")
        payload = json.loads(data) if data else None
        with open(os.path.join(ROOT, "api-calls.jsonl"), "a") as log:
            log.write(json.dumps({"method": self.command, "path": path, "body": payload}) + "\n")
        if TOKEN not in auth:
            return self.reply(401, {"message": "Bad credentials"})
        parts = [urllib.parse.unquote(p) for p in path.split("/") if p]
        if parts[:2] == ["api", "v3"]:
            return self.github(parts[2:], payload)
        if parts[:2] == ["api", "v4"]:
            return self.gitlab(parts[2:], payload)
        return self.reply(404, {"message": "Not Found"})

    def github(self, parts, payload):
        if self.command == "GET" and parts[0] == "users":
            kind = "User" if parts[1] == "octocat" else "Organization"
            return self.reply(200, {"login": parts[1], "type": kind})
        if self.command == "POST" and parts[-1] == "repos":
            owner = "octocat" if parts[0] == "user" else parts[1]
            name = payload["name"]
            if create_bare(owner, name) is None:
                return self.reply(422, {"message": "Repository creation failed: name already exists on this account"})
            return self.reply(201, {
                "clone_url": "%s/%s/%s.git" % (self.host(), owner, name),
                "html_url": "%s/%s/%s" % (self.host(), owner, name),
            })
        if self.command == "PUT" and parts[0] == "repos":
            return self.reply(200, {})
        return self.reply(404, {"message": "Not Found"})

    def gitlab(self, parts, payload):
        if self.command == "GET" and parts[0] == "namespaces":
            return self.reply(200, {"id": 7, "full_path": parts[1]})
        if self.command == "GET" and parts[0] == "projects":
            owner, _, name = parts[1].partition("/")
            if os.path.exists(os.path.join(ROOT, owner, name + ".git")):
                return self.reply(200, {"id": 42, "web_url": "%s/%s/%s" % (self.host(), owner, name)})
            return self.reply(404, {"message": "404 Project Not Found"})
        if self.command == "POST" and parts[0] == "projects":
            owner, name = "group-7", payload["path"]
            if create_bare(owner, name) is None:
                return self.reply(400, {"message": {"name": ["has already been taken"]}})
            return self.reply(201, {
                "id": 42,
                "http_url_to_repo": "%s/%s/%s.git" % (self.host(), owner, name),
                "web_url": "%s/%s/%s" % (self.host(), owner, name),
            })
        return self.reply(404, {"message": "404 Not Found"})

    def git(self, path, query, data):
        env = dict(os.environ, GIT_PROJECT_ROOT=ROOT, GIT_HTTP_EXPORT_ALL="1", PATH_INFO=path,
                   QUERY_STRING=query, REQUEST_METHOD=self.command,
                   CONTENT_TYPE=self.headers.get("Content-Type", ""), CONTENT_LENGTH=str(len(data)),
                   REMOTE_USER="tester", REMOTE_ADDR="127.0.0.1",
                   HTTP_CONTENT_ENCODING=self.headers.get("Content-Encoding", ""),
                   GIT_PROTOCOL=self.headers.get("Git-Protocol", ""),
                   GIT_CONFIG_COUNT="2", GIT_CONFIG_KEY_0="safe.directory", GIT_CONFIG_VALUE_0="*",
                   GIT_CONFIG_KEY_1="http.receivepack", GIT_CONFIG_VALUE_1="true")
        out = subprocess.run(["git", "http-backend"], input=data, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode().split("\r\n"):
            if not line:
                continue
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.strip().split()[0])
            else:
                headers.append((k, v.strip()))
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def git_authorized(self):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return False
        _, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        return password == TOKEN

    def handle_any(self):
        path, _, query = self.path.partition("?")
        data = self.body()
        if path.startswith("/api/"):
            return self.api(path, data)
        if path.startswith("/private/") and not self.git_authorized():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        return self.git(path, query, data)

    do_GET = do_POST = do_PUT = handle_any


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
