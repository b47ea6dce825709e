package cuda

import (
	"fmt"
	"path/filepath"
	"sync"
	"unsafe"
)

// BLAS is a cublasHandle_t.
type BLAS uintptr

// Op is a cublasOperation_t.
type Op int32

const (
	OpN Op = 0 // CUBLAS_OP_N
	OpT Op = 1 // CUBLAS_OP_T
)

// DataType is a cudaDataType.
type DataType int32

const (
	R32F  DataType = 0  // CUDA_R_32F
	R16F  DataType = 2  // CUDA_R_16F
	R16BF DataType = 14 // CUDA_R_16BF
)

// ComputeType is a cublasComputeType_t.
type ComputeType int32

const (
	Compute32F         ComputeType = 68 // CUBLAS_COMPUTE_32F
	Compute32FPedantic ComputeType = 69 // CUBLAS_COMPUTE_32F_PEDANTIC: no TF32, whatever the math mode or environment
)

// GemmAlgo is a cublasGemmAlgo_t.
type GemmAlgo int32

const GemmDefault GemmAlgo = -1 // CUBLAS_GEMM_DEFAULT

// MathMode is a cublasMath_t.
type MathMode int32

const (
	MathDefault  MathMode = 0 // CUBLAS_DEFAULT_MATH
	MathPedantic MathMode = 2 // CUBLAS_PEDANTIC_MATH
)

var (
	cublasCreate               func(h *BLAS) int32
	cublasDestroy              func(h BLAS) int32
	cublasSetStream            func(h BLAS, s Stream) int32
	cublasSetWorkspace         func(h BLAS, ws DevPtr, bytes uint64) int32
	cublasGetVersion           func(h BLAS, v *int32) int32
	cublasGetProperty          func(prop int32, v *int32) int32
	cublasGetStatusName        func(status int32) *byte
	cublasSetMathMode          func(h BLAS, mode MathMode) int32
	cublasGemmEx               func(h BLAS, transa, transb Op, m, n, k int32, alpha unsafe.Pointer, a DevPtr, atype DataType, lda int32, b DevPtr, btype DataType, ldb int32, beta unsafe.Pointer, c DevPtr, ctype DataType, ldc int32, compute ComputeType, algo GemmAlgo) int32
	cublasGemmStridedBatchedEx func(h BLAS, transa, transb Op, m, n, k int32, alpha unsafe.Pointer, a DevPtr, atype DataType, lda int32, strideA int64, b DevPtr, btype DataType, ldb int32, strideB int64, beta unsafe.Pointer, c DevPtr, ctype DataType, ldc int32, strideC int64, batch int32, compute ComputeType, algo GemmAlgo) int32
	cublasGemmBatchedEx        func(h BLAS, transa, transb Op, m, n, k int32, alpha unsafe.Pointer, a DevPtr, atype DataType, lda int32, b DevPtr, btype DataType, ldb int32, beta unsafe.Pointer, c DevPtr, ctype DataType, ldc int32, batch int32, compute ComputeType, algo GemmAlgo) int32
)

var cublasFns = []fn{
	// cublasStatus_t cublasCreate_v2(cublasHandle_t *handle);
	{&cublasCreate, "cublasCreate_v2", false},
	// cublasStatus_t cublasDestroy_v2(cublasHandle_t handle);
	{&cublasDestroy, "cublasDestroy_v2", false},
	// cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId);
	{&cublasSetStream, "cublasSetStream_v2", false},
	// cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void *workspace, size_t workspaceSizeInBytes);
	{&cublasSetWorkspace, "cublasSetWorkspace_v2", true},
	// cublasStatus_t cublasGetVersion_v2(cublasHandle_t handle, int *version);
	{&cublasGetVersion, "cublasGetVersion_v2", false},
	// cublasStatus_t cublasGetProperty(libraryPropertyType type, int *value);
	{&cublasGetProperty, "cublasGetProperty", true},
	// const char *cublasGetStatusName(cublasStatus_t status);
	{&cublasGetStatusName, "cublasGetStatusName", true},
	// cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode);
	{&cublasSetMathMode, "cublasSetMathMode", false},
	// cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
	//     cublasOperation_t transb, int m, int n, int k, const void *alpha,
	//     const void *A, cudaDataType Atype, int lda, const void *B, cudaDataType Btype,
	//     int ldb, const void *beta, void *C, cudaDataType Ctype, int ldc,
	//     cublasComputeType_t computeType, cublasGemmAlgo_t algo);
	{&cublasGemmEx, "cublasGemmEx", false},
	// cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle,
	//     cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
	//     const void *alpha, const void *A, cudaDataType Atype, int lda,
	//     long long int strideA, const void *B, cudaDataType Btype, int ldb,
	//     long long int strideB, const void *beta, void *C, cudaDataType Ctype, int ldc,
	//     long long int strideC, int batchCount, cublasComputeType_t computeType,
	//     cublasGemmAlgo_t algo);
	{&cublasGemmStridedBatchedEx, "cublasGemmStridedBatchedEx", false},
	// cublasStatus_t cublasGemmBatchedEx(cublasHandle_t handle, cublasOperation_t transa,
	//     cublasOperation_t transb, int m, int n, int k, const void *alpha,
	//     const void *const Aarray[], cudaDataType Atype, int lda,
	//     const void *const Barray[], cudaDataType Btype, int ldb, const void *beta,
	//     void *const Carray[], cudaDataType Ctype, int ldc, int batchCount,
	//     cublasComputeType_t computeType, cublasGemmAlgo_t algo);
	{&cublasGemmBatchedEx, "cublasGemmBatchedEx", true},
}

var (
	cublasOnce sync.Once
	cublasLib  *library
)

// cublasDeps preloads libcublasLt from the folder of a libcublas found by
// path: libcublas needs it, and the folder may not be on the loader's path.
func cublasDeps(dir string) []string {
	var out []string
	for _, n := range []string{"libcublasLt.so.13", "libcublasLt.so.12"} {
		if p := filepath.Join(dir, n); osEnv().exists(p) {
			out = append(out, p)
		}
	}
	return out
}

func loadCUBLAS() *library {
	cublasOnce.Do(func() {
		cublasLib = load("cublas", []string{"libcublas.so.13", "libcublas.so.12"}, toolkitDirs(osEnv()), cublasDeps, cublasFns)
		if cublasLib.info.Err == nil && cublasGetProperty != nil {
			var v [3]int32 // MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL
			for i := range v {
				cublasGetProperty(int32(i), &v[i])
			}
			cublasLib.info.Version = fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2])
		}
	})
	return cublasLib
}

// LoadCUBLAS loads cuBLAS once per process.
func LoadCUBLAS() error { return loadCUBLAS().info.Err }

// cublasStatusNames are the cublasStatus_t names, for libraries without
// cublasGetStatusName.
var cublasStatusNames = map[int32]string{
	0: "CUBLAS_STATUS_SUCCESS", 1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED",
	7: "CUBLAS_STATUS_INVALID_VALUE", 8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR",
	13: "CUBLAS_STATUS_EXECUTION_FAILED", 14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED",
	16: "CUBLAS_STATUS_LICENSE_ERROR",
}

func checkBLAS(call string, r int32) error {
	if r == 0 {
		return nil
	}
	name := cublasStatusNames[r]
	if cublasGetStatusName != nil {
		name = goString(cublasGetStatusName(r))
	}
	if name == "" {
		name = fmt.Sprintf("cublasStatus_t(%d)", r)
	}
	return &Error{Lib: "cublas", Code: int(r), Name: name, Call: call}
}

// NewBLAS creates a cuBLAS handle in the current context.
func NewBLAS() (BLAS, error) {
	if err := LoadCUBLAS(); err != nil {
		return 0, err
	}
	var h BLAS
	return h, checkBLAS("cublasCreate_v2", cublasCreate(&h))
}

// Destroy releases the handle.
func (h BLAS) Destroy() error { return checkBLAS("cublasDestroy_v2", cublasDestroy(h)) }

// SetStream makes the handle queue its work on s.
func (h BLAS) SetStream(s Stream) error {
	return checkBLAS("cublasSetStream_v2", cublasSetStream(h, s))
}

// HasSetWorkspace reports whether the library can take a user workspace.
func HasSetWorkspace() bool { return cublasSetWorkspace != nil }

// SetWorkspace gives the handle a workspace of device memory, so that it
// allocates none itself (which stream capture would not allow).
func (h BLAS) SetWorkspace(ws DevPtr, bytes int64) error {
	if cublasSetWorkspace == nil {
		panic("cuda: SetWorkspace: cublasSetWorkspace_v2 is missing; check HasSetWorkspace first")
	}
	return checkBLAS("cublasSetWorkspace_v2", cublasSetWorkspace(h, ws, uint64(bytes)))
}

// Version is cuBLAS's version as major·10000 + minor·100 + patch (CUDA 12+).
func (h BLAS) Version() (int, error) {
	var v int32
	return int(v), checkBLAS("cublasGetVersion_v2", cublasGetVersion(h, &v))
}

// SetMathMode sets the handle's math mode.
func (h BLAS) SetMathMode(m MathMode) error {
	return checkBLAS("cublasSetMathMode", cublasSetMathMode(h, m))
}

// GemmEx computes C = alpha·op(A)·op(B) + beta·C on column-major matrices;
// alpha and beta point at host float32 values for Compute32F types.
func (h BLAS) GemmEx(transa, transb Op, m, n, k int, alpha unsafe.Pointer, a DevPtr, atype DataType, lda int,
	b DevPtr, btype DataType, ldb int, beta unsafe.Pointer, c DevPtr, ctype DataType, ldc int,
	compute ComputeType, algo GemmAlgo) error {
	return checkBLAS("cublasGemmEx", cublasGemmEx(h, transa, transb, int32(m), int32(n), int32(k), alpha,
		a, atype, int32(lda), b, btype, int32(ldb), beta, c, ctype, int32(ldc), compute, algo))
}

// HasGemmBatchedEx says that cuBLAS has cublasGemmBatchedEx.
func HasGemmBatchedEx() bool { return cublasGemmBatchedEx != nil }

// GemmBatchedEx is GemmEx over batch problems of one shape whose matrices
// are anywhere: a, b and c are device arrays of batch device pointers.
func (h BLAS) GemmBatchedEx(transa, transb Op, m, n, k int, alpha unsafe.Pointer, a DevPtr, atype DataType, lda int,
	b DevPtr, btype DataType, ldb int, beta unsafe.Pointer, c DevPtr, ctype DataType, ldc int, batch int,
	compute ComputeType, algo GemmAlgo) error {
	return checkBLAS("cublasGemmBatchedEx", cublasGemmBatchedEx(h, transa, transb, int32(m), int32(n), int32(k), alpha,
		a, atype, int32(lda), b, btype, int32(ldb), beta, c, ctype, int32(ldc), int32(batch), compute, algo))
}

// GemmStridedBatchedEx is GemmEx over batch matrices at fixed strides
// (in elements).
func (h BLAS) GemmStridedBatchedEx(transa, transb Op, m, n, k int, alpha unsafe.Pointer,
	a DevPtr, atype DataType, lda int, strideA int64, b DevPtr, btype DataType, ldb int, strideB int64,
	beta unsafe.Pointer, c DevPtr, ctype DataType, ldc int, strideC int64, batch int,
	compute ComputeType, algo GemmAlgo) error {
	return checkBLAS("cublasGemmStridedBatchedEx", cublasGemmStridedBatchedEx(h, transa, transb,
		int32(m), int32(n), int32(k), alpha, a, atype, int32(lda), strideA, b, btype, int32(ldb), strideB,
		beta, c, ctype, int32(ldc), strideC, int32(batch), compute, algo))
}
