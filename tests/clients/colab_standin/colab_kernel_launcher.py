"""``python -m colab_kernel_launcher -f CONNECTION_FILE``: start the Colab stand-in kernel."""

if __name__ == "__main__":
    from ipykernel import kernelapp

    from google.colab import _kernel

    kernelapp.IPKernelApp.launch_instance(kernel_class=_kernel.Kernel)
