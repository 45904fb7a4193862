"""Image → 3D: Shap-E lifting, meshes, a small renderer, toy-like test shapes, preprocessing, batch jobs.

* :mod:`~toonlab.shape3d.lift` — one image → Shap-E latent → mesh (diffusers' decoder) + turntable frames;
* :mod:`~toonlab.shape3d.meshes` — trimesh conversion, checks and export (.ply / .glb / .obj);
* :mod:`~toonlab.shape3d.render` — a small numpy z-buffer rasteriser (inputs, evaluation views, turntables);
* :mod:`~toonlab.shape3d.toys` — toy-like figures from trimesh primitives (the offline ground truth);
* :mod:`~toonlab.shape3d.preprocess` — background removal (GrabCut; rembg optional), centring, padding;
* :mod:`~toonlab.shape3d.batch` — lift a folder of images with resume and per-object failure records.

Networks layer: no metrics, no chapters.
"""
