# expect: crashed
# what: a known OCC crash: BRep_Tool.Surface on a null face dereferences a null handle.
from OCP.BRep import BRep_Tool
from OCP.TopoDS import TopoDS_Face
BRep_Tool.Surface_s(TopoDS_Face())
