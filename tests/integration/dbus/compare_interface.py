#!/usr/bin/env python3
"""compare_interface.py INSTALLED_XML INTROSPECTED_XML INTERFACE

Compares one interface of two D-Bus introspection documents member by member: methods (in and
out signatures), signals (signature), properties (type, access, EmitsChangedSignal). Argument
names are documentation and not compared (sd-bus introspects unnamed arguments). Exits 1 and
lists every difference, both ways, when they differ.
"""
import sys
import xml.etree.ElementTree as ET

EMITS = "org.freedesktop.DBus.Property.EmitsChangedSignal"


def load(path, interface):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    # ElementTree does not fetch the DTD; the DOCTYPE line is only skipped.
    root = ET.fromstring(text)
    found = [i for i in root.iter("interface") if i.get("name") == interface]
    if len(found) != 1:
        sys.exit(f"{path}: {len(found)} <interface name=\"{interface}\"> elements, expected 1")
    members = {}
    for m in found[0]:
        name = m.get("name")
        if m.tag == "method":
            args = m.findall("arg")
            sig_in = "".join(a.get("type") for a in args if a.get("direction", "in") == "in")
            sig_out = "".join(a.get("type") for a in args if a.get("direction") == "out")
            members[("method", name)] = f"in={sig_in!r} out={sig_out!r}"
        elif m.tag == "signal":
            members[("signal", name)] = "sig=" + repr("".join(a.get("type") for a in m.findall("arg")))
        elif m.tag == "property":
            emits = "true"
            for a in m.findall("annotation"):
                if a.get("name") == EMITS:
                    emits = a.get("value")
            members[("property", name)] = f"type={m.get('type')!r} access={m.get('access')} emits={emits}"
    return members


def main():
    installed_path, live_path, interface = sys.argv[1:4]
    installed = load(installed_path, interface)
    live = load(live_path, interface)
    problems = []
    for key in sorted(set(installed) | set(live)):
        kind, name = key
        if key not in live:
            problems.append(f"{kind} {name}: in {installed_path}, not on the running daemon")
        elif key not in installed:
            problems.append(f"{kind} {name}: on the running daemon ({live[key]}), not in {installed_path}")
        elif installed[key] != live[key]:
            problems.append(f"{kind} {name}: {installed_path} says {installed[key]}, the daemon {live[key]}")
    for p in problems:
        print(p)
    print(f"{len(installed)} members in {installed_path}, {len(live)} on the daemon, "
          f"{len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
