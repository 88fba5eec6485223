"""A libpq key=value conninfo (argv[1]) as a postgres:// URL for database argv[2]."""
import re, sys
d = dict(re.findall(r"(\w+)=(\S+)", sys.argv[1]))
print("postgres://%s@%s:%s/%s" % (d["user"], d["host"], d["port"], sys.argv[2]))
