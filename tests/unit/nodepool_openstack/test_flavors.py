"""Reading GPUs and bare metal from flavor extra specs (no cloud needed)."""

from __future__ import annotations

import pytest

from zuulish.nodepool.openstack_flavors import BadExtraSpec, FlavorHardware, hardware


@pytest.mark.parametrize(("specs", "label", "expected"), [
    ({}, {}, FlavorHardware()),
    ({"hw:cpu_policy": "dedicated", "resources:VCPU": "4"}, {}, FlavorHardware()),
    ({"resources:VGPU": "1"}, {}, FlavorHardware(1, "vgpu")),
    ({"resources1:VGPU": "1", "resources_B:VGPU": "2"}, {}, FlavorHardware(3, "vgpu")),
    ({"resources:VGPU": "2"}, {"gpu_model": "nvidia-a10-4q"},
     FlavorHardware(2, "nvidia-a10-4q")),
    ({"resources:PGPU": "1"}, {}, FlavorHardware(1, "pgpu")),
    ({"resources:VGPU": "0"}, {}, FlavorHardware()),
    ({"pci_passthrough:alias": "a100:2"}, {}, FlavorHardware(2, "a100")),
    ({"pci_passthrough:alias": " t4 , t4:3 "}, {}, FlavorHardware(4, "t4")),
    ({"pci_passthrough:alias": "a100:1,nic:1"}, {"gpus": 1, "gpu_model": "a100"},
     FlavorHardware(1, "a100")),
    ({"accel:device_profile": "l4-profile"}, {}, FlavorHardware(1, "l4-profile")),
    ({"accel:device_profile": "fpga"}, {"gpus": 0}, FlavorHardware()),
    ({"accel:device_profile": "l4"}, {"gpus": 2}, FlavorHardware(2, "l4")),
    ({"resources:CUSTOM_BAREMETAL_GPU": "1", "resources:VCPU": "0"}, {},
     FlavorHardware(baremetal="CUSTOM_BAREMETAL_GPU")),
    ({"resources:CUSTOM_BAREMETAL_GPU": "1"}, {"gpus": 8},
     FlavorHardware(8, "gpu", "CUSTOM_BAREMETAL_GPU")),
    ({"resources:CUSTOM_BAREMETAL_SMALL": "0"}, {}, FlavorHardware()),
    ({"resources:CUSTOM_FPGA": "1"}, {}, FlavorHardware()),
])
def test_extra_specs(specs, label, expected):
    assert hardware(specs, **label) == expected


@pytest.mark.parametrize(("specs", "message"), [
    ({"resources:VGPU": "one"}, "resources:VGPU='one' is not a whole number"),
    ({"resources:VGPU": "-1"}, "is negative"),
    ({"pci_passthrough:alias": "a100:x"}, "pci_passthrough:alias='x' is not a whole number"),
    ({"pci_passthrough:alias": ":2"}, "an entry has no alias name"),
    ({"pci_passthrough:alias": " , "}, "names no alias"),
    ({"accel:device_profile": " "}, "accel:device_profile is empty"),
    ({"resources:CUSTOM_BAREMETAL_X": "yes"}, "is not a whole number"),
])
def test_bad_extra_specs(specs, message):
    with pytest.raises(BadExtraSpec, match=message):
        hardware(specs)
