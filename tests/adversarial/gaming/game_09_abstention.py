# class: abstention
# what: the honest slab moved between two layers of the reference's voxel centres, so no
#       centre falls inside it (was iou None with status ok: left out of the mean)
# reference: ref_plate
# honest: honest_slab_on_centres
# expect: ok
import cadquery as cq
pitch = 0.2 / 64
z = -0.1 - 2 * pitch + 21.0 * pitch          # half-way between two layers of centres
solid = cq.Workplane().box(1.0, 0.3, 0.8 * pitch).translate((0.0, 0.0, z))
