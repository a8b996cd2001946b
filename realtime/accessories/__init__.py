"""What the try-on puts on a face: accessories fitted to the fused face, drawn by the renderer.

``head_proxy`` extends the fused face to a closed head (the occluder, and what accessories rest
on); ``glasses`` fits spectacles to it.
"""
