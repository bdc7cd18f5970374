/* The default model (real stories260K, MIT licence, see models/stories260K/) linked into the
   binary, so `edgerun run` works with no download and from any directory. */
    .section .rodata
    .global edgerun_default_model_start
    .global edgerun_default_model_end
    .balign 64
edgerun_default_model_start:
    .incbin EDGERUN_DEFAULT_MODEL_PATH
edgerun_default_model_end:
    .section .note.GNU-stack,"",%progbits
