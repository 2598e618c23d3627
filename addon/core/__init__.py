"""texgan's bpy-free core, shared by the Blender extension, `texgan` (CLI, bake, eval, demo) and `export/`.

numpy and onnxruntime only (pypng and OpenEXR, for files, are imported where used), so it runs in
Blender's Python as it is. Modules, in the order they depend on each other:

  maps     channel meanings -> named maps, colour spaces, normals from height, quantising
  format   names, limits, metadata schema, checks against the graph, the material record
  latent   the latent recipes texgan-latent/1 and /2
  classes  a class choice -> the weight row a conditional model is fed
  tiling   wrap-around resampling and tiled painting
  runtime  ONNX Runtime sessions, devices, the onnxruntime/onnxruntime-gpu clash
  model    TextureModel and read_metadata (metadata checked against the graph)
  paint    model + settings -> maps: the one flow behind generate, Blender, bake, eval and the demo
  files    one atomic write, temp-file hygiene, the PNG/EXR writer
"""
