#!/usr/bin/python3
"""Receiving server of the proof's interoperability matrix: Python's aiosmtpd
(Debian python3-aiosmtpd) with implicit TLS and AUTH LOGIN/PLAIN for one test
user, writing each envelope recipient's copy to DIR/DOMAIN/USER/new, the same
layout Postfix's virtual(8) uses, with a Delivered-To line like Postfix's.

usage: aiosmtpd_server.py PORT CERT KEY DIR USER PASSWORD
"""
import asyncio, os, signal, ssl, sys, time, itertools
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, cert, key, base, user, password = sys.argv[1:7]
seq = itertools.count()


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user \
        and auth_data.password.decode() == password
    return AuthResult(success=ok)


class Handler:
    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or envelope.content
        for rcpt in envelope.rcpt_tos:
            local, _, domain = rcpt.lower().partition("@")
            d = os.path.join(base, domain, local)
            for sub in ("tmp", "new", "cur"):
                os.makedirs(os.path.join(d, sub), exist_ok=True)
            name = "%d.%d_%d.aiosmtpd" % (time.time(), os.getpid(), next(seq))
            tmp = os.path.join(d, "tmp", name)
            with open(tmp, "wb") as f:
                f.write(b"Delivered-To: " + rcpt.encode() + b"\r\n" + data)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, os.path.join(d, "new", name))
        return "250 2.0.0 OK stored"


ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
controller = Controller(Handler(), hostname="127.0.0.1", port=int(port), ssl_context=ctx,
                        authenticator=authenticator, auth_required=True,
                        auth_require_tls=False, server_hostname="localhost")
# auth_require_tls=False: aiosmtpd 1.4 only counts STARTTLS as TLS and would
# hide AUTH on an implicit-TLS socket; every byte here is inside TLS anyway.
controller.start()
print("aiosmtpd listening on 127.0.0.1:%s (implicit TLS)" % port, flush=True)
stop = asyncio.Event()
loop = asyncio.new_event_loop()
for s in (signal.SIGTERM, signal.SIGINT):
    loop.add_signal_handler(s, stop.set)
loop.run_until_complete(stop.wait())
controller.stop()
