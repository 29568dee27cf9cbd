// The Python module mask2former._C. Importing it loads this library, whose static initializers
// register the operators (TORCH_LIBRARY) under torch.ops.mask2former. Its only attribute,
// WITH_CUDA, says whether CUDA kernels were compiled in.
#include <Python.h>

PyMODINIT_FUNC PyInit__C(void) {
  static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_C",
                                      "Compiled operators, registered under torch.ops.mask2former",
                                      -1, nullptr};
  PyObject* m = PyModule_Create(&module);
#ifdef MASK2FORMER_WITH_CUDA
  const long with_cuda = 1;
#else
  const long with_cuda = 0;
#endif
  if (m != nullptr && PyModule_AddIntConstant(m, "WITH_CUDA", with_cuda) != 0) {
    Py_DECREF(m);
    return nullptr;
  }
  return m;
}
