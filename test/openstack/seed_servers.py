#!/usr/bin/python3
"""Create or reset the ecsgate test servers with Nova's own object layer (run with /usr/bin/python3).

No compute node exists: a server here is an `instances` row (plus companions) in the cell1 database
and an `instance_mappings` row in the API database, which is all nova-api needs to show, list, lock
and unlock it. Each run leaves every seeded server ACTIVE, running, unlocked, without locked_reason
or user metadata, with its original name, owner and cell mapping. A server that a test deleted (soft
delete) is purged and created again.

Usage: seed_servers.py NOVA_CONF SERVERS_JSON
SERVERS_JSON: [{"uuid", "name", "project_id", "user_id"}, ...]
"""

import json
import sys

from nova import config
from nova import context as nova_context
from nova import exception
from nova import objects
from nova.compute import power_state, vm_states
from nova.network import model as network_model
from oslo_utils import timeutils

FLAVOR_ID = "ecsgate.tiny"
IMAGE_ID = "c0ffee00-0000-4000-8000-0000000000aa"


def log(msg):
    sys.stderr.write("seed_servers: %s\n" % msg)


def get_flavor(ctxt):
    try:
        return objects.Flavor.get_by_flavor_id(ctxt, FLAVOR_ID)
    except exception.FlavorNotFound:
        pass
    flavor = objects.Flavor(
        context=ctxt, name=FLAVOR_ID, flavorid=FLAVOR_ID, memory_mb=512, vcpus=1, root_gb=1,
        ephemeral_gb=0, swap=0, rxtx_factor=1.0, vcpu_weight=0, disabled=False, is_public=True,
        extra_specs={}, description=None)
    flavor.create()
    log("created flavor %s" % FLAVOR_ID)
    return flavor


def get_cell1(ctxt):
    for cell in objects.CellMappingList.get_all(ctxt):
        if cell.name == "cell1":
            return cell
    raise SystemExit("seed_servers: no cell1 in cell_mappings (run nova-manage cell_v2 create_cell)")


def reset_instance(inst, spec):
    inst.display_name = spec["name"]
    inst.hostname = spec["name"]
    inst.project_id = spec["project_id"]
    inst.user_id = spec["user_id"]
    inst.vm_state = vm_states.ACTIVE
    inst.power_state = power_state.RUNNING
    inst.task_state = None
    inst.locked = False
    inst.locked_by = None
    if "locked_reason" in inst.system_metadata:
        del inst.system_metadata["locked_reason"]
    inst.metadata = {}
    inst.save()


def new_instance(cctxt, flavor, spec):
    fields = dict(
        uuid=spec["uuid"], project_id=spec["project_id"], user_id=spec["user_id"],
        display_name=spec["name"], display_description=spec["name"], hostname=spec["name"],
        vm_state=vm_states.ACTIVE, power_state=power_state.RUNNING, task_state=None,
        locked=False, locked_by=None, image_ref=IMAGE_ID, memory_mb=flavor.memory_mb,
        vcpus=flavor.vcpus, root_gb=flavor.root_gb, ephemeral_gb=flavor.ephemeral_gb,
        availability_zone="nova", launched_at=timeutils.utcnow(), host=None, node=None,
        launch_index=0, reservation_id="r-ecsgate", root_device_name="/dev/vda",
        config_drive="", flavor=flavor, old_flavor=None, new_flavor=None, metadata={},
        system_metadata={"image_disk_format": "qcow2", "image_container_format": "bare",
                         "image_min_disk": "1", "image_min_ram": "0"},
        info_cache=objects.InstanceInfoCache(network_info=network_model.NetworkInfo()),
    )
    if "instance_type_id" in objects.Instance.fields:
        fields["instance_type_id"] = flavor.id
    inst = objects.Instance(context=cctxt, **fields)
    inst.create()
    log("created instance %s (%s)" % (spec["uuid"], spec["name"]))


def ensure_instance(ctxt, cell, flavor, spec):
    uuid = spec["uuid"]
    with nova_context.target_cell(ctxt, cell) as cctxt:
        cctxt.read_deleted = "yes"
        try:
            inst = objects.Instance.get_by_uuid(
                cctxt, uuid, expected_attrs=["system_metadata", "metadata", "flavor"])
        except exception.InstanceNotFound:
            inst = None
        if inst is not None and inst.deleted:
            from nova.db.main import api as db
            db.instance_destroy(cctxt, uuid, hard_delete=True)
            log("purged soft-deleted instance %s" % uuid)
            inst = None
        cctxt.read_deleted = "no"
        if inst is None:
            new_instance(cctxt, flavor, spec)
        else:
            reset_instance(inst, spec)

    try:
        im = objects.InstanceMapping.get_by_instance_uuid(ctxt, uuid)
    except exception.InstanceMappingNotFound:
        im = objects.InstanceMapping(
            context=ctxt, instance_uuid=uuid, cell_mapping=cell, project_id=spec["project_id"],
            user_id=spec["user_id"], queued_for_delete=False)
        im.create()
        log("created instance mapping %s" % uuid)
        return
    im.cell_mapping = cell
    im.project_id = spec["project_id"]
    im.user_id = spec["user_id"]
    im.queued_for_delete = False
    im.save()


def main():
    conf, servers_json = sys.argv[1], sys.argv[2]
    specs = json.loads(servers_json)
    # init_rpc stays on: object create() sends (noop) notifications through the fake transport.
    config.parse_args(["seed_servers", "--config-file", conf])
    objects.register_all()
    ctxt = nova_context.get_admin_context()
    flavor = get_flavor(ctxt)
    cell = get_cell1(ctxt)
    for spec in specs:
        ensure_instance(ctxt, cell, flavor, spec)
    log("%d servers ready" % len(specs))


if __name__ == "__main__":
    main()
