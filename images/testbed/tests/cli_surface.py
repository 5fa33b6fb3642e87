"""Print, as JSON, every verb and option the guest stand-ins' parsers accept.

Read from the tools' source (they import libostree, so they cannot be imported on the host): each
verb of a tool's COMMANDS table maps to a cmd_* function whose parse(...) call lists its flags,
valued options and short forms. test/unit/testbed-fidelity.test.ts checks that the fidelity table
(images/testbed/fidelity.yaml) names each of them.

Output: {"rpm-ostree": {"VERB": ["--opt", "-o", ...], ...}, "bootc": {...}}
"""
import ast
import json
import os
import sys

GUEST_BIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "guest", "usr", "bin")


def _strings(node):
    if isinstance(node, (ast.Tuple, ast.List)):
        return [e.value for e in node.elts if isinstance(e, ast.Constant)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _strings(node.left) + _strings(node.right)
    return None


def surface(path):
    tree = ast.parse(open(path).read())
    consts = {}
    funcs = {}
    commands = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name == "COMMANDS":
                commands = node.value
            vals = _strings(node.value)
            if vals is not None:
                consts[name] = vals
        elif isinstance(node, ast.FunctionDef):
            funcs[node.name] = node

    def resolve(node):
        if isinstance(node, ast.Name):
            return consts.get(node.id, [])
        if isinstance(node, ast.BinOp):
            return resolve(node.left) + resolve(node.right)
        return _strings(node) or []

    def options_of(fn_name):
        opts = []
        for call in ast.walk(funcs[fn_name]):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "parse":
                for kw in call.keywords:
                    if kw.arg in ("flags", "valued"):
                        opts += [f"--{o}" for o in resolve(kw.value)]
                    elif kw.arg == "short" and isinstance(kw.value, ast.Dict):
                        opts += [f"-{k.value}" for k in kw.value.keys]
        return sorted(set(opts))

    out = {}
    for key, value in zip(commands.keys, commands.values):
        verb = key.value
        if isinstance(value, ast.Constant) and value.value is None:
            continue  # listed only to be refused by name
        if isinstance(value, ast.Lambda):
            value = value.body.func
        out[verb] = options_of(value.id)
    return out


def main():
    doc = {tool: surface(os.path.join(GUEST_BIN, tool)) for tool in ("rpm-ostree", "bootc")}
    json.dump(doc, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
