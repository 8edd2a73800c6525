# expect: runtime_error
# what: seeks to 1 TB and writes one byte (a sparse file past the file-size cap): EFBIG.
import cadquery as cq
with open("cbadv-__MARKER__-__NAME__", "wb") as f:
    f.seek(10**12)
    f.write(b"x")
solid = cq.Workplane().box(1, 1, 1)
