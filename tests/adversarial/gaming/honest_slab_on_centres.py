# Honest: a thin slab inside the plate, through a layer of the plate's voxel centres.
import cadquery as cq
pitch = 0.2 / 64
z = -0.1 - 2 * pitch + 20.5 * pitch          # a layer of voxel centres (padded grid)
solid = cq.Workplane().box(1.0, 0.3, 0.8 * pitch).translate((0.0, 0.0, z))
