#!/usr/bin/python3
"""Find-or-create the ecsgate test identities and catalog in Keystone (run with /usr/bin/python3).

Idempotent: projects, roles, users, role assignments, services and endpoints are created when
missing and corrected when they differ. A password is only reset when it no longer works, because a
password change makes Keystone revoke every token of that user (a rerun must not break tokens that
tests or the lead are holding). Prints one JSON object with the ids on stdout.

Usage: provision.py KEYSTONE_URL NOVA_URL GLANCE_URL PASSWORD_SUFFIX
"""

import json
import sys

from keystoneauth1 import exceptions as ka_exc
from keystoneauth1 import session as ka_session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client as ks_client

DOMAIN = "default"
REGION = "RegionOne"

PROJECTS = ["admin", "service", "demo", "other"]
ROLES = ["admin", "member", "reader", "ecs_unlocker"]
# user -> {project: [roles]}; exactly these direct project assignments are kept on these projects.
USERS = {
    "admin": {"admin": ["admin"]},
    "alice": {"demo": ["member"]},
    "bob": {"demo": ["member"]},
    "carol": {"demo": ["reader"]},
    "dave": {"demo": ["member", "ecs_unlocker"]},
    "eve": {"other": ["member"]},
    "nova": {"service": ["admin"]},
}


def log(msg):
    sys.stderr.write("provision: %s\n" % msg)


def by_name(items, what):
    """name -> resource; duplicate names are an error (find-or-create would be ambiguous)."""
    out = {}
    for item in items:
        if item.name in out:
            raise SystemExit("provision: more than one %s named %s" % (what, item.name))
        out[item.name] = item
    return out


def password_works(url, name, password):
    auth = v3.Password(auth_url=url, username=name, password=password, user_domain_id=DOMAIN)
    try:
        ka_session.Session(auth=auth).get_token()
        return True
    except ka_exc.Unauthorized:
        return False


def main():
    url, nova_url, glance_url, suffix = sys.argv[1:5]
    auth = v3.Password(auth_url=url, username="admin", password="admin" + suffix,
                       project_name="admin", project_domain_id=DOMAIN, user_domain_id=DOMAIN)
    sess = ka_session.Session(auth=auth)
    ks = ks_client.Client(session=sess, interface="public", region_name=REGION)
    # Keystone calls cost a few hundred ms each here: list once per collection, pass plain ids to
    # the managers (a resource object makes keystoneclient GET it again), and skip no-op writes.

    existing = by_name(ks.projects.list(domain=DOMAIN), "project")
    projects = {}
    for name in PROJECTS:
        p = existing.get(name)
        if p is None:
            p = ks.projects.create(name=name, domain=DOMAIN, description="ecsgate test project")
            log("created project %s" % name)
        elif not p.enabled:
            p = ks.projects.update(p.id, enabled=True)
            log("re-enabled project %s" % name)
        projects[name] = p.id

    existing = by_name(ks.roles.list(), "role")
    roles = {}
    for name in ROLES:
        r = existing.get(name)
        if r is None:
            r = ks.roles.create(name=name)
            log("created role %s" % name)
        roles[name] = r.id

    existing = by_name(ks.users.list(domain=DOMAIN), "user")
    users = {}
    created = set()
    for name in USERS:
        password = name + suffix
        u = existing.get(name)
        if u is None:
            u = ks.users.create(name=name, domain=DOMAIN, password=password, enabled=True)
            created.add(name)
            log("created user %s" % name)
        else:
            if not u.enabled:
                ks.users.update(u.id, enabled=True)
                log("re-enabled user %s" % name)
            if not password_works(url, name, password):
                ks.users.update(u.id, password=password)
                log("reset password of %s" % name)
        users[name] = u.id

    # Exactly the wanted direct user->project assignments on our projects, for our users.
    managed_projects = set(projects.values())
    user_names = {v: k for k, v in users.items()}
    have = set()
    for a in ks.role_assignments.list():
        info = a._info  # raw dict: a missing attribute would make keystoneclient try a GET
        uid = info.get("user", {}).get("id")
        pid = info.get("scope", {}).get("project", {}).get("id")
        if uid in user_names and pid in managed_projects:
            have.add((uid, pid, info["role"]["id"]))
    want = {(users[u], projects[p], roles[r])
            for u, grants in USERS.items() for p, rs in grants.items() for r in rs}
    for uid, pid, rid in sorted(want - have):
        ks.roles.grant(rid, user=uid, project=pid)
    for uid, pid, rid in sorted(have - want):
        ks.roles.revoke(rid, user=uid, project=pid)
        log("revoked stray role %s of %s on project %s" % (rid, user_names[uid], pid))
    if want - have:
        log("granted %d role assignments" % len(want - have))

    services = {}
    for s in ks.services.list():
        if s.type in services:
            raise SystemExit("provision: more than one %s service" % s.type)
        services[s.type] = s
    endpoints = ks.endpoints.list()

    def ensure(stype, name, target):
        svc = services.get(stype)
        if svc is None:
            svc = ks.services.create(name=name, type=stype, enabled=True)
            log("created %s service" % stype)
        for iface in ("public", "internal", "admin"):
            eps = [e for e in endpoints if e.service_id == svc.id and e.interface == iface
                   and e._info.get("region_id") == REGION]
            for extra in eps[1:]:
                ks.endpoints.delete(extra.id)
            if not eps:
                ks.endpoints.create(service=svc.id, url=target, interface=iface, region=REGION)
                log("created %s %s endpoint" % (stype, iface))
            elif eps[0].url != target or not eps[0].enabled:
                ks.endpoints.update(eps[0].id, url=target, enabled=True)
                log("updated %s %s endpoint" % (stype, iface))

    ensure("compute", "nova", nova_url)
    ensure("image", "glance", glance_url)
    # Neutron stays out of the catalog: Nova reaches the stand-in through endpoint_override.
    if "network" in services:
        log("warning: a network service is in the catalog (%s)" % services["network"].id)

    json.dump({"projects": projects, "users": users, "roles": roles}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
